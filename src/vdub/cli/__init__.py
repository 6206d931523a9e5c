"""``python -m vdub <subcommand>``: one subcommand per workflow stage plus the operator's commands.

The rules call these; each subcommand parses its arguments and calls its stage function, so every
stage also runs by hand.
"""
