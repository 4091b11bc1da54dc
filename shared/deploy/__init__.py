"""Deployment of the factory itself: infrastructure generated from the manifests in contracts/."""
