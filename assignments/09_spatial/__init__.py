"""Spatial Operations: Conv2d, MaxPool2d, AvgPool2d, Flatten and a SimpleCNN, forward and backward."""
from grader.engine.assignment import Assignment

ASSIGNMENT = Assignment(
    title="Spatial Operations",
    checks_package="spatial_checks",
    # the foundation of the earlier modules (Tensor, Function, Module, losses, optimizers)
    ships={"tinytorch": "tinytorch_ref/core"},
    # the hidden checks compare against the reference implementation
    depends=("tinytorch_ref",),
)
