"""Version of this build. The repository builder overwrites this file inside each package."""
VERSION = "1.31.9"
GIT_COMMIT = "0" * 40
BUILD_DATE = "2024-10-22T20:28:14Z"
GO_VERSION = "go1.22.8"
CRICTL_VERSION = "v1.31.1"
