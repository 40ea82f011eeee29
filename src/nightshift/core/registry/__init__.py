"""The model registry in object storage: version folders in TF Serving's layout, manifests, a pointer."""
