"""Localisation without rclpy: object proposals, crops, ranking against a query, drawing boxes."""
