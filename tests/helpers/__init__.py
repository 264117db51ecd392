"""Helpers shared by several test folders (plain modules, not conftest files: pytest loads a conftest only
for its own folder, so a fixture file cannot be shared by importing another folder's conftest)."""
