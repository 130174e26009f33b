"""The browser harness itself: a real Chromium reaches the live hub and renders Chinese pages."""

from tests.browser.conftest import PHONE


def test_the_staff_login_page_renders_in_chinese_with_labelled_inputs(phone, tablet, shot):
    for page in (phone, tablet):
        page.goto("/admin/login/")
        assert "邮政智慧场景积分清算中心" in page.content()
        # every visible input has a label a screen reader can announce
        for name in ("username", "password"):
            field = page.locator(f"input[name={name}]")
            field_id = field.get_attribute("id")
            assert page.locator(f"label[for={field_id}]").count() == 1
        path = shot(page, f"login-{page.viewport_size['width']}")
        assert path.stat().st_size > 1000


def test_the_phone_viewport_is_360_wide(phone):
    phone.goto("/admin/login/")
    assert phone.evaluate("window.innerWidth") == PHONE["width"]
