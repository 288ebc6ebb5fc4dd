"""The demo's class for Spatial Operations (``make demo``): student id -> what they hand in."""

BLANK = "carol_blank"
CORRECT = {"alice_loops": "loops", "bob_im2col": "im2col"}
BUGGY = {"dave_flipped_kernel": "flipped_kernel", "erin_maxpool_stride1": "maxpool_default_stride_1",
         "frank_avgpool_div4": "avgpool_divides_by_4", "grace_bias_grad": "bias_grad_first_item"}
# tampering (blank + patched numpy; blank + a fake grading agent), runaway (a correct solution with an
# endless loop cell), and a truncated notebook file
HOSTILE = {"mallory_patches_numpy": "patch_numpy", "trudy_fakes_the_agent": "fake_agent",
           "oscar_endless_loop": "infinite_loop", "pat_truncated_file": "invalid_json"}
