"""data_dependent."""
