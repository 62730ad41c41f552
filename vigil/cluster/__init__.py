"""Cluster mode (issue #19): cameras spread over several machines. So far only the placement logic
(`vigil.cluster.placement`); the Ray actors that apply it are not built yet."""
