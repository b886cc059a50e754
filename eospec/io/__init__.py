"""Reading hyperspectral scenes (DLR EnMAP L2A products, tagged GeoTIFFs, ENVI cubes)."""

from .scene import Scene, SceneInfo, open_scene, read_wavelength_table

__all__ = ["Scene", "SceneInfo", "open_scene", "read_wavelength_table"]
