"""Message <-> numpy conversions (no cv_bridge or sensor_msgs_py needed)."""
from .camera_info import Pinhole, from_camera_info, to_camera_info
from .image import array_to_image, image_to_array, pixel_format, to_depth, to_rgb, to_single
from .pointcloud2 import read_points, to_xyz, xyz_to_cloud

__all__ = ["Pinhole", "from_camera_info", "to_camera_info", "array_to_image", "image_to_array",
           "pixel_format", "to_depth", "to_rgb", "to_single", "read_points", "to_xyz",
           "xyz_to_cloud"]
