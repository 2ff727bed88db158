pytest_plugins = ["pcse_kit.testing"]
