"""Version of this build. The repository builder overwrites this file inside each package."""
VERSION = "1.31.2"
