"""Settings for the whole suite, applied before any test module imports torch."""

import os

# OpenMP's worker threads spin while they wait for work. On a 2-core machine that is shared (another pytest, the
# distributed tests' ranks, other users' jobs) the spinning takes the cores the work needs: 4,000 small QRs in
# test_random_orthogonal_has_no_sign_bias took 28 s instead of 5 s. Waiting threads that sleep change no result
# and no thread count; set OMP_WAIT_POLICY yourself to override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
