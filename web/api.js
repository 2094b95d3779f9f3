// A small client of the phone-auth API: JSON in and out, the Accept-Language header, and the
// tokens. Tokens live in localStorage under the names the passwordless login's frontend
// snippets use (access_token, user), plus refresh_token and session_id once the API returns
// them. A call that gets 401 TOKEN_EXPIRED refreshes the tokens once and is sent again.
// device_token (this browser's device credential, from any sign-in) is kept across logout and
// sent with every code, login and reset request, so locks other clients caused never refuse it.

const STORED = ["access_token", "user", "refresh_token", "session_id", "access_token_expires_at"];

/** An error answer of the API ({"success": false, "error": {code, message, details}}), or a network failure. */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const tokens = {
  get access() {
    return localStorage.getItem("access_token");
  },
  get refresh() {
    return localStorage.getItem("refresh_token");
  },
  get sessionId() {
    return localStorage.getItem("session_id");
  },
  get device() {
    return localStorage.getItem("device_token");
  },
  get expiresAt() {
    return Number(localStorage.getItem("access_token_expires_at")) || null;
  },
  get user() {
    try {
      return JSON.parse(localStorage.getItem("user"));
    } catch {
      return null;
    }
  },
  /** Keep what a sign-in or refresh answer carries. */
  save(answer) {
    localStorage.setItem("access_token", answer.access_token);
    if (answer.user) localStorage.setItem("user", JSON.stringify(answer.user));
    if (answer.refresh_token) localStorage.setItem("refresh_token", answer.refresh_token);
    if (answer.session_id) localStorage.setItem("session_id", answer.session_id);
    if (answer.device_token) localStorage.setItem("device_token", answer.device_token); // not in STORED: outlives logout
    if (answer.expires_in) localStorage.setItem("access_token_expires_at", String(Date.now() + answer.expires_in * 1000));
  },
  clear() {
    for (const key of STORED) localStorage.removeItem(key);
  },
};

/** ``body`` with this browser's device credential, when it has one. */
function withDevice(body) {
  return tokens.device ? { ...body, device_token: tokens.device } : body;
}

export class Api {
  /**
   * @param {string} baseUrl  the part before /auth/... (config.js)
   * @param {{language?: () => string, onTokens?: () => void}} options
   *   language: "en" or "th", sent as Accept-Language; onTokens: called whenever the stored tokens change
   */
  constructor(baseUrl, { language = () => "en", onTokens = () => {} } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.language = language;
    this.onTokens = onTokens;
    this.refreshing = null;
  }

  async call(method, path, { body, auth = false, retry = true } = {}) {
    const headers = { "Accept-Language": this.language() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth) headers.Authorization = `Bearer ${tokens.access}`;
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (failure) {
      const hint = `is the API at ${this.baseUrl} up, and does it allow this origin (CORS)?`;
      throw new ApiError(0, "NETWORK_ERROR", `${failure.message}: ${hint}`);
    }
    const data = await response.json().catch(() => null);
    if (response.ok) return data;
    const error = data?.error ?? { code: `HTTP_${response.status}`, message: data?.message ?? response.statusText };
    if (auth && retry && error.code === "TOKEN_EXPIRED" && tokens.refresh && (await this.refreshQuietly())) {
      return this.call(method, path, { body, auth, retry: false });
    }
    throw new ApiError(response.status, error.code, error.message, error.details);
  }

  /** POST a sign-in and keep its tokens before the caller sees the answer. */
  async signIn(path, body) {
    const answer = await this.call("POST", path, { body });
    tokens.save(answer);
    this.onTokens();
    return answer;
  }

  // ---- passwordless login: an SMS code signs in, the first one creates the user
  sendCode(phone) {
    return this.call("POST", "/auth/send-verification", { body: withDevice({ phone }) });
  }
  verifyCode(phone, code) {
    return this.signIn("/auth/verify-code", withDevice({ phone, verification_code: code }));
  }

  // ---- the signed-in user and their sessions
  me() {
    return this.call("GET", "/auth/me", { auth: true });
  }
  /** New tokens for the refresh token; one request at a time, since each refresh token works once. */
  refresh() {
    this.refreshing ??= this.call("POST", "/auth/refresh", { body: { refresh_token: tokens.refresh } })
      .then((answer) => {
        tokens.save(answer);
        this.onTokens();
        return answer;
      })
      .catch((error) => {
        if (String(error.code).startsWith("REFRESH_TOKEN_")) {
          tokens.clear(); // invalid, reused or expired: this sign-in is over
          this.onTokens();
        }
        throw error;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }
  refreshQuietly() {
    return this.refresh().then(
      () => true,
      () => false,
    );
  }
  sessions() {
    return this.call("GET", "/auth/sessions", { auth: true });
  }
  endSession(id) {
    return this.call("DELETE", `/auth/sessions/${encodeURIComponent(id)}`, { auth: true });
  }
  /** Ends this session ({"scope": "current"}) or every session; the stored tokens go either way. */
  async logout({ everywhere = false } = {}) {
    try {
      return await this.call("POST", "/auth/logout", { auth: true, body: everywhere ? undefined : { scope: "current" } });
    } finally {
      tokens.clear();
      this.onTokens();
    }
  }

  // ---- the account's own life (each needs a recent sign-in: else 403 REAUTHENTICATION_REQUIRED)
  /** Erase the account; its tokens are refused from now on, so the stored ones go. */
  async deleteAccount() {
    const answer = await this.call("DELETE", "/auth/me", { auth: true });
    tokens.clear();
    this.onTokens();
    return answer;
  }
  requestPhoneChange(newPhone) {
    return this.call("POST", "/auth/me/phone", { auth: true, body: { new_phone: newPhone } });
  }
  /** Move the account to the new number: the answer is a fresh sign-in, whose tokens are kept. */
  async verifyPhoneChange(newPhone, code) {
    const answer = await this.call("POST", "/auth/me/phone/verify", { auth: true, body: { new_phone: newPhone, code } });
    tokens.save(answer);
    this.onTokens();
    return answer;
  }

  // ---- back-office users (imported, then register with a password): register, password login, reset
  checkMobile(phone) {
    return this.call("POST", "/auth/check-mobile", { body: { phone } });
  }
  requestRegistrationCode(phone) {
    return this.call("POST", "/auth/request-registration-otp", { body: withDevice({ phone }) });
  }
  verifyRegistrationCode(phone, code) {
    return this.call("POST", "/auth/verify-registration-otp", { body: withDevice({ phone, code }) });
  }
  completeRegistration(phone, password, registrationToken) {
    return this.signIn("/auth/complete-registration", { phone, password, registration_token: registrationToken });
  }
  login(phone, password) {
    return this.signIn("/auth/login/mobile", withDevice({ phone, password }));
  }
  requestResetCode(phone) {
    return this.call("POST", "/auth/request-password-reset-otp", { body: withDevice({ phone }) });
  }
  resetPassword(phone, code, newPassword) {
    return this.call("POST", "/auth/reset-password", {
      body: withDevice({ phone, code, new_password: newPassword }),
    });
  }
}
