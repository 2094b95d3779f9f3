// The developer panel: the local stack's SMS outbox, live, its users table and the lifecycle events published.
// It shows only where /_local/health answers (the local stack); a deployed API has no /_local.

import { t } from "./i18n.js";

const POLL_MS = 1500;

/**
 * @param {string} origin  the API's origin, where the local stack serves /_local
 * @param {{onUseCode: (code: string) => void, onShown: () => void}} hooks
 */
export async function startDevPanel(origin, { onUseCode, onShown }) {
  const local = (path, init) => fetch(`${origin}/_local${path}`, init);
  try {
    if (!(await local("/health")).ok) return;
  } catch {
    return; // no local stack here: stay hidden
  }
  const panel = document.querySelector("#devpanel");
  panel.hidden = false;
  onShown();

  let shownOutbox = "";
  let shownUsers = "";
  let shownEvents = "";

  async function refresh() {
    try {
      const [sms, users, events] = await Promise.all(
        ["/sms", "/users", "/events"].map((path) => local(path).then((r) => r.json())),
      );
      const outboxKey = `${document.documentElement.lang}:${JSON.stringify(sms)}`;
      if (outboxKey !== shownOutbox) renderOutbox(sms, onUseCode);
      const usersKey = `${document.documentElement.lang}:${JSON.stringify(users)}`;
      if (usersKey !== shownUsers) renderUsers(users, local, refresh);
      const eventsKey = `${document.documentElement.lang}:${JSON.stringify(events)}`;
      if (eventsKey !== shownEvents) renderEvents(events);
      [shownOutbox, shownUsers, shownEvents] = [outboxKey, usersKey, eventsKey];
    } catch {
      // the stack restarted or stopped: try again at the next tick
    }
  }

  panel.querySelector("#outbox-clear").addEventListener("click", async () => {
    await local("/sms", { method: "DELETE" });
    refresh();
  });
  panel.querySelector("#users-clear").addEventListener("click", async () => {
    await local("/users", { method: "DELETE" });
    refresh();
  });
  panel.querySelector("#events-clear").addEventListener("click", async () => {
    await local("/events", { method: "DELETE" });
    refresh();
  });
  await refresh();
  setInterval(refresh, POLL_MS);
}

function renderOutbox(messages, onUseCode) {
  const list = document.querySelector("#outbox");
  list.replaceChildren();
  if (!messages.length) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = t("outboxEmpty");
    list.append(empty);
    return;
  }
  for (const message of [...messages].reverse()) {
    const item = document.createElement("li");
    item.dataset.to = message.to;
    const when = document.createElement("time");
    when.dateTime = message.sent_at;
    when.textContent = new Date(message.sent_at).toLocaleTimeString();
    const to = document.createElement("strong");
    to.textContent = message.to;
    const body = document.createElement("div");
    body.textContent = message.body;
    item.append(when, " ", to, body);
    const code = message.body.match(/\b\d{6}\b/)?.[0];
    if (code) {
      const use = document.createElement("button");
      use.type = "button";
      use.className = "small";
      use.dataset.code = code;
      use.textContent = `${t("useCode")} ${code}`;
      use.setAttribute("aria-label", t("useCodeLabel", { code, phone: message.to, time: when.textContent }));
      use.addEventListener("click", () => onUseCode(code));
      item.append(use);
    }
    list.append(item);
  }
}

function renderUsers(users, local, refresh) {
  const body = document.querySelector("#users tbody");
  body.replaceChildren();
  if (!users.length) {
    const empty = body.insertRow().insertCell();
    empty.colSpan = 4;
    empty.textContent = t("usersEmpty");
    return;
  }
  for (const user of users) {
    const row = body.insertRow();
    row.dataset.phone = user.phone;
    const name = [user.profile?.first_name, user.profile?.last_name].filter(Boolean).join(" ");
    const flags = [user.has_password ? t("hasPassword") : "", user.is_active ? t("active") : ""].filter(Boolean);
    for (const text of [user.phone, name, flags.join(", ")]) row.insertCell().textContent = text;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "small";
    remove.textContent = t("deleteUser");
    remove.setAttribute("aria-label", t("deleteUserLabel", { phone: user.phone }));
    remove.addEventListener("click", async () => {
      await local(`/users?phone=${encodeURIComponent(user.phone)}`, { method: "DELETE" });
      refresh();
    });
    row.insertCell().append(remove);
  }
}

/** The events the bus received, newest first: type, user, phone (and the old one, or why sessions ended). */
function renderEvents(events) {
  const list = document.querySelector("#events");
  list.replaceChildren();
  if (!events.length) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = t("eventsEmpty");
    list.append(empty);
    return;
  }
  for (const event of [...events].reverse()) {
    const { detail } = event;
    const item = document.createElement("li");
    item.dataset.type = event["detail-type"];
    item.dataset.phone = detail.phone;
    const when = document.createElement("time");
    when.dateTime = detail.occurred_at;
    when.textContent = new Date(detail.occurred_at).toLocaleTimeString();
    const type = document.createElement("strong");
    type.textContent = event["detail-type"];
    const about = document.createElement("div");
    const phone = detail.old_phone ? `${detail.old_phone} → ${detail.phone}` : detail.phone;
    const user = t("eventUser", { id: detail.user_id.slice(0, 8) });
    about.textContent = [phone, detail.reason, user].filter(Boolean).join(" · ");
    item.append(when, " ", type, about);
    list.append(item);
  }
}
