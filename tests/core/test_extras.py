"""Optional extras: a missing one is a typed error naming the pip command."""

from __future__ import annotations

import pytest

from whisper_tune.errors import MissingDependencyError
from whisper_tune.extras import pip_command, require


def test_cloud_packages_name_the_extra():
    assert pip_command("modal") == pip_command("huggingface_hub") == "pip install 'whisper-tune[cloud]'"


def test_a_missing_package_names_its_pip_command():
    with pytest.raises(MissingDependencyError, match=r"^report_to=trackio needs the Python package "
                                                     r"'no_such_tracker_xyz'.*run pip install 'no_such_tracker_xyz'"):
        require("no_such_tracker_xyz", "report_to=trackio")
    assert require("json", "anything").dumps([1]) == "[1]"
