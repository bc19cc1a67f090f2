"""Infrastructure as code: secrets and identity references in files and git history."""
