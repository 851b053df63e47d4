"""Customer 360: point-in-time features, RFM profiles and tags, and segmentation."""
