"""newsmon: feeds -> article text -> topics -> stored hits -> alerts."""

__version__ = "0.1.0"
