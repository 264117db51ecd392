#!/bin/sh
# The example's entrypoint (Docker ENTRYPOINT, Apptainer %runscript).
echo "Hello ${1:-world}, from the ossr-images example image."
