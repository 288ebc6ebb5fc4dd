"""Losses: softmax and log-softmax, mean squared error, softmax cross-entropy and binary cross-entropy on
logits, each loss forward and backward."""
from grader.engine.assignment import Assignment

ASSIGNMENT = Assignment(
    title="Losses",
    checks_package="losses_checks",
    # only the autograd foundation (Tensor, Function, no_grad): the reference losses are what students write
    ships={"tinytorch": ("tinytorch_ref/core/tensor.py", "assignments/04_losses/foundation/__init__.py")},
    # the hidden checks compare against the reference implementation
    depends=("tinytorch_ref",),
)
