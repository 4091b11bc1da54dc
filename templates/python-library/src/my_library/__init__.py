"""MyLibrary."""

from my_library.core import MyLibraryGreeter, greet

__all__ = ["MyLibraryGreeter", "greet"]
__version__ = "0.1.0"
