"""The app's screens: the main one, the compare view and the export dialog."""

from .compare import CompareScreen
from .export import ExportScreen
from .main import MainScreen
from .recommend import RecommendScreen

__all__ = ["CompareScreen", "ExportScreen", "MainScreen", "RecommendScreen"]
