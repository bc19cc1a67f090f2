"""The CSV roster: the HR export (or hand-written file) that says who is who and who left."""

# The attribute keys its records may carry, by record kind (docs/schema.md lists them).
ATTRIBUTES = {
    "Identity": ("notified_at",),  # when IT was told of the departure (residual evidence)
}
