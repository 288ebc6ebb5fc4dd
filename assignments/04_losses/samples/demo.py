"""The demo's class for Losses (``make demo``): student id -> what they hand in."""

BLANK = "carol_blank"
CORRECT = {"alice_loops": "loops", "bob_logsumexp": "logsumexp"}
BUGGY = {"dave_no_max_shift": "softmax_no_max_shift", "erin_mse_sum": "mse_always_sums",
         "frank_ce_grad_n": "ce_grad_forgets_n", "grace_bce_log_sigmoid": "bce_log_of_sigmoid"}
