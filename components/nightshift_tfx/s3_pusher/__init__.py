"""S3Pusher: TFX's Pusher, publishing to the nightshift registry in object storage."""
