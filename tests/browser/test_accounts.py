"""Signing in and the settings page in a real browser."""

import pytest
from playwright.sync_api import expect

from accounts.models import profile_for
from tests.browser.conftest import PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_wrong_password_shows_a_form_error(new_page, tutor, screenshot):
    page = new_page()
    page.goto("/accounts/login/")
    screenshot(page, "sign-in-desktop")

    page.get_by_label("Username").fill(tutor.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")
    expect(page.get_by_label("Username")).to_have_value(tutor.username)
    screenshot(page, "sign-in-error")


def test_sign_in_page_fits_a_phone_screen(new_page, screenshot):
    page = new_page(viewport=PHONE)

    page.goto("/accounts/login/")

    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "sign-in-phone")


def test_choosing_a_time_zone_changes_the_top_bar(student, student_page, screenshot):
    page = student_page  # signed in, on the settings page

    page.get_by_role("combobox", name="Time zone").select_option("America/New_York")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_role("status")).to_contain_text("Times are now shown in America/New_York")
    expect(page.get_by_test_id("user-zone")).to_contain_text("America/New_York")
    assert profile_for(student).time_zone == "America/New_York"
    screenshot(page, "settings")


def test_the_settings_offer_the_devices_own_zone(student, new_page):
    page = new_page(student, timezone_id="Asia/Tokyo")  # signed in, on the settings page

    page.get_by_role("button", name="Use this device's zone (Asia/Tokyo)").click()
    expect(page.get_by_role("combobox", name="Time zone")).to_have_value("Asia/Tokyo")
    page.get_by_role("button", name="Save").click()

    expect(page.get_by_test_id("user-zone")).to_contain_text("Asia/Tokyo")
    expect(page.get_by_test_id("clock-preview")).to_contain_text("JST")


def test_signing_out_returns_to_the_sign_in_page(tutor_page):
    tutor_page.get_by_role("button", name="Sign out").click()

    expect(tutor_page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(tutor_page.get_by_role("status")).to_contain_text("You have been signed out.")
