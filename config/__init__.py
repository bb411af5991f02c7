"""Settings for every Yunguan process: environment, then the TOML file in YUNGUAN_CONFIG, then defaults."""
from config.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
