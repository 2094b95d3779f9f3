// The page's own words in English and Thai: labels, accessible names and status lines. The
// API's messages come localised already (the page sends Accept-Language). A word may hold
// {placeholders}, filled by t(key, values).

export const WORDS = {
  en: {
    title: "phone-auth reference client",
    api: "API",
    docs: "API docs",
    language: "Language",
    session: "Session",
    signedOut: "Not signed in.",
    signedInAs: "Signed in as",
    newUser: "New user: this was the first sign-in.",
    returningUser: "Welcome back.",
    tokenExpires: "Access token expires",
    me: "Who am I",
    refresh: "Refresh tokens",
    sessions: "Sessions",
    logout: "Log out",
    logoutEverywhere: "Log out everywhere",
    endSession: "End",
    endSessionLabel: "End session on {device}, started {started}",
    sessionsCaption: "Your sessions",
    sessionDevice: "Device",
    sessionUsed: "Last used (started)",
    sessionCurrent: "Current",
    actions: "Actions",
    current: "this device",
    noRefreshToken: "No refresh token: this API has not returned one yet.",
    meShown: "Your account is shown below.",
    tokensRefreshed: "Tokens refreshed.",
    sessionsListed: "Sessions listed: {count}.",
    done: "Done.",
    flows: "Sign-in and account flows",
    tabOtp: "SMS code login",
    tabRegister: "Register",
    tabLogin: "Password login",
    tabReset: "Reset password",
    otpHelp: "Passwordless: the first verified code creates the user.",
    registerHelp: "For users imported from the back office: prove the phone, then set a password.",
    loginHelp: "For users who have set a password.",
    resetHelp: "A code by SMS, then a new password. Every earlier token stops working.",
    phone: "Mobile number",
    code: "Code from the SMS",
    codeFormat: "The 6 digits of the code",
    password: "Password",
    newPassword: "New password",
    sendCode: "Send code",
    verify: "Verify and sign in",
    check: "Check number",
    sendRegistrationCode: "Send registration code",
    verifyRegistrationCode: "Verify code",
    setPassword: "Set password and sign in",
    login: "Log in",
    sendResetCode: "Send reset code",
    resetPassword: "Reset password",
    registrationToken: "Registration token received; now set a password.",
    answer: "Last answer",
    working: "Working…",
    devPanel: "Developer panel (local stack only)",
    outbox: "SMS outbox",
    outboxEmpty: "No SMS yet.",
    useCode: "Use",
    useCodeLabel: "Use {code}, sent to {phone} at {time}",
    clearOutbox: "Clear the SMS outbox",
    clear: "Clear",
    users: "Users",
    usersEmpty: "No users.",
    deleteUser: "Delete",
    deleteUserLabel: "Delete user {phone}",
    deleteAllUsers: "Delete all users",
    userPhone: "Phone",
    userName: "Name",
    userStatus: "Status",
    deleteAll: "Delete all",
    hasPassword: "password",
    active: "active",
  },
  th: {
    title: "เว็บไคลเอนต์อ้างอิงของ phone-auth",
    api: "API",
    docs: "เอกสาร API",
    language: "ภาษา",
    session: "เซสชัน",
    signedOut: "ยังไม่ได้เข้าสู่ระบบ",
    signedInAs: "เข้าสู่ระบบในชื่อ",
    newUser: "ผู้ใช้ใหม่: นี่คือการเข้าสู่ระบบครั้งแรก",
    returningUser: "ยินดีต้อนรับกลับมา",
    tokenExpires: "โทเค็นหมดอายุเมื่อ",
    me: "ข้อมูลของฉัน",
    refresh: "ต่ออายุโทเค็น",
    sessions: "เซสชันทั้งหมด",
    logout: "ออกจากระบบ",
    logoutEverywhere: "ออกจากระบบทุกอุปกรณ์",
    endSession: "สิ้นสุด",
    endSessionLabel: "สิ้นสุดเซสชันบน {device} ที่เริ่มเมื่อ {started}",
    sessionsCaption: "เซสชันของคุณ",
    sessionDevice: "อุปกรณ์",
    sessionUsed: "ใช้ล่าสุด (เริ่มเมื่อ)",
    sessionCurrent: "ปัจจุบัน",
    actions: "การดำเนินการ",
    current: "อุปกรณ์นี้",
    noRefreshToken: "ไม่มีรีเฟรชโทเค็น: API นี้ยังไม่ได้ส่งมา",
    meShown: "ข้อมูลบัญชีของคุณแสดงอยู่ด้านล่าง",
    tokensRefreshed: "ต่ออายุโทเค็นแล้ว",
    sessionsListed: "แสดงเซสชันแล้ว: {count} รายการ",
    done: "เสร็จแล้ว",
    flows: "ขั้นตอนเข้าสู่ระบบและจัดการบัญชี",
    tabOtp: "เข้าสู่ระบบด้วยรหัส SMS",
    tabRegister: "ลงทะเบียน",
    tabLogin: "เข้าสู่ระบบด้วยรหัสผ่าน",
    tabReset: "รีเซ็ตรหัสผ่าน",
    otpHelp: "ไม่ต้องใช้รหัสผ่าน: ยืนยันรหัสครั้งแรกแล้วระบบจะสร้างผู้ใช้ให้",
    registerHelp: "สำหรับผู้ใช้ที่นำเข้าจากระบบหลังบ้าน: ยืนยันเบอร์โทรศัพท์ แล้วตั้งรหัสผ่าน",
    loginHelp: "สำหรับผู้ใช้ที่ตั้งรหัสผ่านแล้ว",
    resetHelp: "รับรหัสทาง SMS แล้วตั้งรหัสผ่านใหม่ โทเค็นเดิมทั้งหมดจะใช้ไม่ได้",
    phone: "เบอร์มือถือ",
    code: "รหัสจาก SMS",
    codeFormat: "รหัสตัวเลข 6 หลัก",
    password: "รหัสผ่าน",
    newPassword: "รหัสผ่านใหม่",
    sendCode: "ส่งรหัส",
    verify: "ยืนยันและเข้าสู่ระบบ",
    check: "ตรวจสอบเบอร์",
    sendRegistrationCode: "ส่งรหัสลงทะเบียน",
    verifyRegistrationCode: "ยืนยันรหัส",
    setPassword: "ตั้งรหัสผ่านและเข้าสู่ระบบ",
    login: "เข้าสู่ระบบ",
    sendResetCode: "ส่งรหัสรีเซ็ต",
    resetPassword: "รีเซ็ตรหัสผ่าน",
    registrationToken: "ได้รับโทเค็นลงทะเบียนแล้ว กรุณาตั้งรหัสผ่าน",
    answer: "คำตอบล่าสุด",
    working: "กำลังดำเนินการ…",
    devPanel: "แผงนักพัฒนา (เฉพาะ local stack)",
    outbox: "กล่อง SMS ขาออก",
    outboxEmpty: "ยังไม่มี SMS",
    useCode: "ใช้รหัส",
    useCodeLabel: "ใช้รหัส {code} ที่ส่งถึง {phone} เมื่อ {time}",
    clearOutbox: "ล้างกล่อง SMS ขาออก",
    clear: "ล้าง",
    users: "ผู้ใช้",
    usersEmpty: "ไม่มีผู้ใช้",
    deleteUser: "ลบ",
    deleteUserLabel: "ลบผู้ใช้ {phone}",
    deleteAllUsers: "ลบทั้งหมดในตารางผู้ใช้",
    userPhone: "เบอร์โทรศัพท์",
    userName: "ชื่อ",
    userStatus: "สถานะ",
    deleteAll: "ลบทั้งหมด",
    hasPassword: "มีรหัสผ่าน",
    active: "ใช้งานอยู่",
  },
};

export const LANGUAGES = Object.keys(WORDS);

export function currentLanguage() {
  const stored = localStorage.getItem("lang");
  return LANGUAGES.includes(stored) ? stored : "en";
}

export function setLanguage(language) {
  localStorage.setItem("lang", language);
  translate(document);
}

/** A word in the current language (English when Thai lacks it), its {placeholders} filled from ``values``. */
export function t(key, values = {}) {
  const language = currentLanguage();
  const word = WORDS[language][key] ?? WORDS.en[key] ?? key;
  return word.replace(/\{(\w+)\}/g, (placeholder, name) => (name in values ? String(values[name]) : placeholder));
}

/** Fill every [data-i18n] element's text, [data-i18n-label] element's aria-label and [data-i18n-title] element's title. */
export function translate(root) {
  document.documentElement.lang = currentLanguage();
  for (const element of root.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of root.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  }
  for (const element of root.querySelectorAll("[data-i18n-title]")) element.title = t(element.dataset.i18nTitle);
}
