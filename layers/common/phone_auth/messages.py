"""Human messages for every error code, in English and Thai, and Accept-Language negotiation."""

from __future__ import annotations

from typing import Literal

SUPPORTED_LANGUAGES = ("en", "th")

#: What a step that answers with a message did: a flow returns one, and the API answers with its
#: message in the client's language.
Outcome = Literal[
    "SESSION_ENDED",
    "LOGGED_OUT",
    "LOGGED_OUT_HERE",
    "PASSWORD_RESET",
    "ACCOUNT_DELETED",
    "ACCOUNT_DELETED_IMPORTED",
    "USER_DISABLED",
    "USER_ENABLED",
    "USER_SIGNED_OUT",
    "USER_DELETED",
]

MESSAGES: dict[str, dict[str, str]] = {
    "BAD_REQUEST": {"en": "The request is not valid.", "th": "คำขอไม่ถูกต้อง"},
    "INVALID_JSON": {"en": "The request body is not valid JSON.", "th": "ข้อมูลที่ส่งมาไม่ใช่ JSON ที่ถูกต้อง"},
    "VALIDATION_ERROR": {
        "en": "Some fields are missing or have the wrong type.",
        "th": "ข้อมูลบางช่องขาดหายหรือมีรูปแบบไม่ถูกต้อง",
    },
    "PAYLOAD_TOO_LARGE": {"en": "The request body is too large.", "th": "ข้อมูลที่ส่งมามีขนาดใหญ่เกินไป"},
    "UNSUPPORTED_MEDIA_TYPE": {
        "en": "Send the request body as JSON (Content-Type: application/json).",
        "th": "กรุณาส่งข้อมูลในรูปแบบ JSON (Content-Type: application/json)",
    },
    "INVALID_PHONE": {"en": "This is not a valid phone number.", "th": "หมายเลขโทรศัพท์ไม่ถูกต้อง"},
    "PHONE_NOT_MOBILE": {
        "en": "This number cannot receive SMS; use a mobile number.",
        "th": "หมายเลขนี้ไม่ใช่เบอร์มือถือ กรุณาใช้เบอร์มือถือ",
    },
    "OTP_INVALID": {"en": "The code is incorrect.", "th": "รหัส OTP ไม่ถูกต้อง"},
    "OTP_EXPIRED": {"en": "The code has expired. Request a new one.", "th": "รหัส OTP หมดอายุแล้ว กรุณาขอรหัสใหม่"},
    "OTP_NOT_FOUND": {
        "en": "There is no valid code for this number. Request a new one.",
        "th": "ไม่พบรหัส OTP ที่ใช้ได้สำหรับหมายเลขนี้ กรุณาขอรหัสใหม่",
    },
    "OTP_ATTEMPTS_EXCEEDED": {
        "en": "Too many wrong codes. Request a new code.",
        "th": "กรอกรหัสผิดเกินจำนวนครั้งที่กำหนด กรุณาขอรหัสใหม่",
    },
    "RATE_LIMITED": {"en": "Too many requests. Try again later.", "th": "มีการร้องขอมากเกินไป กรุณาลองใหม่ภายหลัง"},
    "PHONE_LOCKED": {
        "en": "Too many wrong codes for this number. Try again later.",
        "th": "กรอกรหัสผิดหลายครั้งเกินไปสำหรับหมายเลขนี้ กรุณาลองใหม่ภายหลัง",
    },
    "LOGIN_LOCKED": {
        "en": "Too many wrong passwords. Try again later or reset your password.",
        "th": "กรอกรหัสผ่านผิดหลายครั้งเกินไป กรุณาลองใหม่ภายหลังหรือตั้งรหัสผ่านใหม่",
    },
    "COUNTRY_NOT_ALLOWED": {
        "en": "We cannot send codes to numbers of this country.",
        "th": "ไม่สามารถส่งรหัสไปยังหมายเลขของประเทศนี้ได้",
    },
    "SMS_BUDGET_EXHAUSTED": {
        "en": "We cannot send more codes right now. Try again later.",
        "th": "ขณะนี้ไม่สามารถส่งรหัสเพิ่มได้ กรุณาลองใหม่ภายหลัง",
    },
    "OTP_LOGIN_DISABLED": {
        "en": "Login by SMS code is turned off; log in with your mobile number and password.",
        "th": "ไม่สามารถเข้าสู่ระบบด้วยรหัส OTP ได้ กรุณาเข้าสู่ระบบด้วยเบอร์มือถือและรหัสผ่าน",
    },
    "PHONE_NOT_ALLOWED": {
        "en": "This mobile number cannot register.",
        "th": "เบอร์โทรศัพท์นี้ไม่สามารถลงทะเบียนได้",
    },
    "REGISTRATION_REQUIRED": {"en": "Please register before logging in.", "th": "กรุณาลงทะเบียนก่อนเข้าสู่ระบบ"},
    "REAUTHENTICATION_REQUIRED": {
        "en": "For your security, sign in again to do this.",
        "th": "เพื่อความปลอดภัย กรุณาเข้าสู่ระบบอีกครั้งก่อนทำรายการนี้",
    },
    "PHONE_UNCHANGED": {
        "en": "This is already your account's number.",
        "th": "หมายเลขนี้เป็นหมายเลขของบัญชีคุณอยู่แล้ว",
    },
    "PHONE_IN_USE": {
        "en": "This mobile number already belongs to another account.",
        "th": "หมายเลขนี้เป็นของบัญชีอื่นอยู่แล้ว",
    },
    "ALREADY_REGISTERED": {
        "en": "This mobile number is already registered. Log in or reset your password.",
        "th": "เบอร์โทรศัพท์นี้ลงทะเบียนแล้ว กรุณาเข้าสู่ระบบหรือรีเซ็ตรหัสผ่าน",
    },
    "REGISTRATION_TOKEN_INVALID": {
        "en": "The registration session is invalid or has expired. Verify your number again.",
        "th": "การลงทะเบียนหมดอายุหรือไม่ถูกต้อง กรุณายืนยันเบอร์โทรศัพท์อีกครั้ง",
    },
    "INVALID_CREDENTIALS": {
        "en": "The mobile number or password is incorrect.",
        "th": "หมายเลขโทรศัพท์หรือรหัสผ่านไม่ถูกต้อง",
    },
    "PASSWORD_TOO_SHORT": {
        "en": "The password must be at least 8 characters.",
        "th": "รหัสผ่านต้องมีอย่างน้อย 8 ตัวอักษร",
    },
    "PASSWORD_TOO_LONG": {
        "en": "The password must be at most 72 bytes (UTF-8).",
        "th": "รหัสผ่านต้องยาวไม่เกิน 72 ไบต์ (UTF-8)",
    },
    "PASSWORD_TOO_COMMON": {
        "en": "This password is too common. Choose another one.",
        "th": "รหัสผ่านนี้ถูกใช้บ่อยเกินไป กรุณาเลือกรหัสผ่านอื่น",
    },
    "PASSWORD_IS_PHONE": {
        "en": "The password must not be your phone number.",
        "th": "รหัสผ่านต้องไม่ใช่หมายเลขโทรศัพท์ของคุณ",
    },
    "TOKEN_MISSING": {"en": "Authentication required.", "th": "กรุณาเข้าสู่ระบบ"},
    "TOKEN_INVALID": {"en": "The access token is invalid.", "th": "โทเค็นไม่ถูกต้อง"},
    "TOKEN_EXPIRED": {"en": "The access token has expired. Log in again.", "th": "โทเค็นหมดอายุ กรุณาเข้าสู่ระบบใหม่"},
    "TOKEN_REVOKED": {
        "en": "This session has ended. Log in again.",
        "th": "เซสชันนี้สิ้นสุดแล้ว กรุณาเข้าสู่ระบบใหม่",
    },
    "REFRESH_TOKEN_INVALID": {
        "en": "The session is no longer valid. Log in again.",
        "th": "เซสชันไม่ถูกต้องหรือสิ้นสุดแล้ว กรุณาเข้าสู่ระบบใหม่",
    },
    "REFRESH_TOKEN_REUSED": {
        "en": "This sign-in was used from somewhere else, so it has been ended. Log in again.",
        "th": "มีการใช้การเข้าสู่ระบบนี้จากที่อื่น ระบบจึงยกเลิกเซสชันแล้ว กรุณาเข้าสู่ระบบใหม่",
    },
    "REFRESH_TOKEN_EXPIRED": {
        "en": "The session has expired. Log in again.",
        "th": "เซสชันหมดอายุ กรุณาเข้าสู่ระบบใหม่",
    },
    "SESSION_NOT_FOUND": {"en": "There is no such session.", "th": "ไม่พบเซสชันนี้"},
    "SESSION_ENDED": {"en": "The session has been ended.", "th": "ยกเลิกเซสชันแล้ว"},
    "LOGGED_OUT_HERE": {"en": "Logged out on this device.", "th": "ออกจากระบบบนอุปกรณ์นี้แล้ว"},
    "USER_NOT_FOUND": {"en": "The user does not exist.", "th": "ไม่พบผู้ใช้"},
    "ACCOUNT_DISABLED": {
        "en": "This account has been disabled. Contact support.",
        "th": "บัญชีนี้ถูกระงับการใช้งาน กรุณาติดต่อฝ่ายบริการ",
    },
    "INVALID_CURSOR": {
        "en": "The page cursor is not valid; start again from the first page.",
        "th": "ตัวชี้หน้าไม่ถูกต้อง กรุณาเริ่มใหม่จากหน้าแรก",
    },
    "IMPORT_NOT_FOUND": {
        "en": "No import job has this id (jobs are kept 7 days).",
        "th": "ไม่พบงานนำเข้าที่มีรหัสนี้ (เก็บงานไว้ 7 วัน)",
    },
    "OPERATOR_UNKNOWN": {
        "en": "The call carries no signed AWS identity.",
        "th": "คำขอนี้ไม่มีตัวตน AWS ที่ลงลายมือชื่อ",
    },
    "SERVICE_UNAVAILABLE": {
        "en": "The service is temporarily unavailable. Try again.",
        "th": "ระบบไม่พร้อมให้บริการชั่วคราว กรุณาลองใหม่",
    },
    "UNAUTHORIZED": {"en": "Authentication required.", "th": "กรุณาเข้าสู่ระบบ"},
    "NOT_FOUND": {"en": "No such endpoint.", "th": "ไม่พบปลายทางนี้"},
    "MISSING_AUTHENTICATION_TOKEN": {
        "en": "Missing Authentication Token: sign the request with SigV4 (execute-api).",
        "th": "ไม่มีลายมือชื่อ กรุณาลงลายมือชื่อคำขอด้วย SigV4 (execute-api)",
    },
    "INVALID_SIGNATURE": {
        "en": "The request signature does not match: sign the request with SigV4 (execute-api).",
        "th": "ลายมือชื่อของคำขอไม่ถูกต้อง กรุณาลงลายมือชื่อด้วย SigV4 (execute-api)",
    },
    "ACCESS_DENIED": {
        "en": "This IAM principal may not call this route.",
        "th": "ตัวตน IAM นี้ไม่มีสิทธิ์เรียกเส้นทางนี้",
    },
    "EXPIRED_TOKEN": {
        "en": "The signing credentials have expired.",
        "th": "ข้อมูลรับรองที่ใช้ลงลายมือชื่อหมดอายุแล้ว",
    },
    "INTERNAL_ERROR": {"en": "Something went wrong on our side.", "th": "เกิดข้อผิดพลาดในระบบ"},
    # Success messages.
    "CODE_SENT": {"en": "Verification code sent.", "th": "ส่งรหัส OTP เรียบร้อยแล้ว"},
    "LOGGED_OUT": {
        "en": "Logged out successfully. User is now inactive.",
        "th": "ออกจากระบบเรียบร้อยแล้ว",
    },
    "CAN_REGISTER": {"en": "This mobile number can register.", "th": "เบอร์โทรศัพท์สามารถลงทะเบียนได้"},
    "CANNOT_REGISTER": {
        "en": "This mobile number cannot register.",
        "th": "เบอร์โทรศัพท์นี้ไม่สามารถลงทะเบียนได้",
    },
    "RESET_CODE_SENT": {
        "en": "If this number has an account, a reset code has been sent.",
        "th": "หากหมายเลขนี้มีบัญชีอยู่ ระบบได้ส่งรหัสสำหรับรีเซ็ตรหัสผ่านแล้ว",
    },
    "PASSWORD_RESET": {
        "en": "Your password has been changed. Log in with the new password.",
        "th": "เปลี่ยนรหัสผ่านเรียบร้อยแล้ว กรุณาเข้าสู่ระบบด้วยรหัสผ่านใหม่",
    },
    "ACCOUNT_DELETED": {
        "en": "Your account has been deleted.",
        "th": "ลบบัญชีของคุณเรียบร้อยแล้ว",
    },
    "ACCOUNT_DELETED_IMPORTED": {
        "en": "Your account has been deleted. This number can register again only once the back office"
        " imports it again.",
        "th": "ลบบัญชีของคุณเรียบร้อยแล้ว หมายเลขนี้จะลงทะเบียนใหม่ได้เมื่อฝ่ายหลังบ้านนำเข้าหมายเลขนี้อีกครั้งเท่านั้น",
    },
    "USER_DISABLED": {"en": "The user is disabled and every session has ended.", "th": "ระงับผู้ใช้และยกเลิกทุกเซสชันแล้ว"},
    "USER_ENABLED": {"en": "The user is enabled.", "th": "เปิดใช้งานผู้ใช้แล้ว"},
    "USER_SIGNED_OUT": {"en": "Every session of the user has ended.", "th": "ยกเลิกทุกเซสชันของผู้ใช้แล้ว"},
    "USER_DELETED": {"en": "The user has been erased.", "th": "ลบผู้ใช้เรียบร้อยแล้ว"},
    "CODE_VERIFIED": {"en": "Code verified. Set your password.", "th": "ยืนยันรหัส OTP สำเร็จ กรุณาตั้งรหัสผ่าน"},
    "SMS_LOGIN": {
        "en": "Your phone-auth code is {code}. It expires in {minutes} min. Never share it.",
        "th": "รหัส OTP ของคุณคือ {code} ใช้ได้ {minutes} นาที ห้ามบอกรหัสนี้กับผู้อื่น",
    },
    "SMS_PHONE_CHANGE": {
        "en": "Your phone-auth code to move your account to this number is {code}. It expires in {minutes} min."
        " Never share it.",
        "th": "รหัสสำหรับย้ายบัญชี phone-auth มาใช้หมายเลขนี้คือ {code} ใช้ได้ {minutes} นาที ห้ามบอกรหัสนี้กับผู้อื่น",
    },
    "SMS_PHONE_CHANGED": {
        "en": "Your phone-auth account has moved to another number and no longer uses this one. If you did"
        " not do this, contact support at once.",
        "th": "บัญชี phone-auth ของคุณย้ายไปใช้หมายเลขอื่นแล้ว และไม่ใช้หมายเลขนี้อีกต่อไป หากคุณไม่ได้ทำรายการนี้ กรุณาติดต่อฝ่ายบริการทันที",
    },
}


def message(code: str, language: str = "en") -> str:
    entry = MESSAGES.get(code) or MESSAGES["BAD_REQUEST"]
    return entry.get(language) or entry["en"]


def preferred_language(accept_language: str | None) -> str:
    """Pick en or th from an Accept-Language header by q-value; English when undecided."""
    if not accept_language:
        return "en"
    best, best_q = "en", 0.0
    for position, part in enumerate(accept_language.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower().split("-")[0]
        q = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        # Earlier entries win ties, as browsers list preferences in order.
        q -= position * 1e-6
        if tag in SUPPORTED_LANGUAGES and q > best_q:
            best, best_q = tag, q
    return best
