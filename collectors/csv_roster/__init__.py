"""The CSV roster: the HR export (or hand-written file) that says who is who and who left."""
