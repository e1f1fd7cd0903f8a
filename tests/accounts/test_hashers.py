"""Passwords hash in a low-priority thread (accounts/hashers.py), with Django's own algorithm."""

import os
import threading

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher, check_password, make_password

from accounts.hashers import NICE, LowPriorityPBKDF2PasswordHasher

LOW = "accounts.hashers.LowPriorityPBKDF2PasswordHasher"


class Watching(LowPriorityPBKDF2PasswordHasher):
    iterations = 1000  # the test's speed; the algorithm is the same


def _recording_pbkdf2(monkeypatch):
    seen = []
    real = PBKDF2PasswordHasher.encode

    def encode(self, password, salt, iterations=None):
        seen.append((threading.current_thread().name, os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)))
        return real(self, password, salt, iterations)

    monkeypatch.setattr(PBKDF2PasswordHasher, "encode", encode)
    return seen


def test_the_settings_hash_new_passwords_with_it_and_list_one_hasher_per_algorithm():
    from config import settings as module  # the app's list (the tests' settings swap in a fast hasher)

    assert module.PASSWORD_HASHERS[0] == LOW
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" not in module.PASSWORD_HASHERS


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="per-thread priority is Linux's")
def test_the_hash_is_computed_at_the_lowest_priority_and_idle_policy_and_the_caller_keeps_its_own(
    settings, monkeypatch
):
    settings.PASSWORD_HASHERS = [f"{__name__}.Watching"]
    seen = _recording_pbkdf2(monkeypatch)
    before = os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)
    encoded = make_password("correct horse")
    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert check_password("correct horse", encoded) and not check_password("wrong", encoded)
    assert len(seen) == 3  # made, then checked twice
    assert all(
        name.startswith("password-hash") and nice == NICE and policy == os.SCHED_IDLE for name, nice, policy in seen
    )
    assert (os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)) == before


def test_its_hashes_are_django_s_own_both_ways(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.Watching"]
    django_made = PBKDF2PasswordHasher().encode("s3cret", "salt1234", iterations=1000)
    assert check_password("s3cret", django_made)
    assert Watching().encode("s3cret", "salt1234") == django_made
