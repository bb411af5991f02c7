"""The few words the server itself renders (the login form and its refusals), in the reader's language:
zh-CN by default, English when the pages' switch chose it (cookie `yunguan_lang`, web/assets.py). Everything
else is said by the built pages, from their message catalogues (frontend/src/locales)."""
from __future__ import annotations

from dispatch.vocabulary import ROLE_LABELS
from web.assets import page_lang

TEXTS: dict[str, tuple[str, str]] = {
    "login.title": ("登录", "Log in"),
    "login.heading": ("云管 · 城市运行管理服务平台", "Yunguan · city operation-management-service platform"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.code": ("动态口令", "One-time code"),
    "login.code_hint": ("身份验证器应用中的 6 位数字", "The 6 digits of your authenticator app"),
    "login.verify": ("验证", "Verify"),
    "login.start_over": ("重新登录", "Start over"),
    "login.switch": ("English", "中文"),
    "login.wrong": ("用户名或密码错误", "Wrong username or password"),
    "login.expired": ("验证已超时，请重新登录", "The code form expired; log in again"),
    "login.throttled": ("尝试次数过多，请稍后再试", "Too many failed attempts; try again later"),
    "login.bad_otp": ("动态口令错误或已使用", "Wrong or already used code"),
    "login.otp_required": ("请输入动态口令", "Enter the code of your authenticator app"),
    "login.otp_not_enrolled": ("该账号须使用双因素登录，请联系管理员开通",
                               "This account needs a second factor; ask an administrator to enrol it"),
    "forbidden.title": ("无权访问", "No access"),
    "forbidden.body": ("账号 {user}（{role}）不能打开此页面。", "The account {user} ({role}) may not open this page."),
    "forbidden.home": ("前往我的页面", "Go to my page"),
    "logout": ("退出", "Log out"),
}


def say(key: str, **names) -> str:
    """The text for `key` in the page's language, with {names} filled in."""
    zh, en = TEXTS[key]
    return (en if page_lang() == "en" else zh).format(**names)


def role_label(role: str) -> str:
    label = ROLE_LABELS.get(role)
    return role if label is None else (label.en if page_lang() == "en" else label.zh)


def other_lang() -> str:
    return "zh-CN" if page_lang() == "en" else "en"


def template_globals() -> dict:
    return {"say": say, "page_lang": page_lang, "other_lang": other_lang, "role_label": role_label}
