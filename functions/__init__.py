"""Thin triggers: a decorator and one call into ``shared``. No SDK import, no environment reads."""
