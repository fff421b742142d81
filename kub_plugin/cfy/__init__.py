"""The Cloudify face of kub, and the only code that imports cloudify: the lifecycle operations of its node types, the
kub_* workflows and their parameter tables. Thin: read ctx, call a step, write results back."""
