"""Image readers (pure Python), synthetic archives, compression, and the Docker / Apptainer engines."""
