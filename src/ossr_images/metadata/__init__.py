"""CodeMeta models and validation, the image metadata file, the crosswalk to Zenodo and git provenance.

Pure Python, no network. Submodules are imported where used (e.g. `ossr_images.metadata.codemeta`).
"""
