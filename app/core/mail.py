"""Sending e-mail over SMTP with the standard library, never on a request's time.

`Mailer.send_later` hands a message to the app's own small pool of mail threads and
returns at once. A mail server that refuses, hangs or is absent costs those threads
at most SMTP_TIMEOUT seconds per message and one warning in the log; requests never
wait for it, and since the pool is the mailer's own, neither do the worker threads
that serve the database. Messages beyond MAX_PENDING waiting are dropped (one line
each): a flood of requests cannot queue unbounded work behind a dead server.
"""

import logging
import smtplib
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

from app.core.config import BadSetting, Settings

logger = logging.getLogger(__name__)

MAIL_THREADS = 2
MAX_PENDING = 100


class Mailer:
    """The app's outgoing mail, as SMTP_* and EMAIL_FROM configure it."""

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.user = settings.smtp_user
        self._password = settings.smtp_password
        self.starttls = settings.smtp_starttls
        self.timeout = settings.smtp_timeout
        self.sender = settings.email_from or ""
        if self.host and "@" not in parseaddr(self.sender)[1]:
            raise BadSetting(
                "EMAIL_FROM",
                "is not an e-mail address; with SMTP_HOST set, set it to the address "
                "reset e-mails come from, e.g. EMAIL_FROM=no-reply@example.com",
            )
        self._pool: ThreadPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.host)

    def send_later(self, message: EmailMessage) -> None:
        """Queue `message` for sending from EMAIL_FROM; returns at once."""
        with self._lock:
            if self._pending >= MAX_PENDING:
                logger.warning("e-mail not sent: %d messages already wait for %s:%s",
                               self._pending, self.host, self.port)
                return
            self._pending += 1
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAIL_THREADS, thread_name_prefix="mail")
            pool = self._pool
        message["From"] = self.sender
        # What mail servers and spam filters expect of every message.
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=parseaddr(self.sender)[1].rpartition("@")[2])
        pool.submit(self._send_counted, message)

    def close(self) -> None:
        """Stop taking messages; those not started yet are dropped, none is waited for."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _send_counted(self, message: EmailMessage) -> None:
        try:
            self.send_now(message)
        finally:
            with self._lock:
                self._pending -= 1

    def send_now(self, message: EmailMessage) -> bool:
        """Send `message`; on any failure of the mail server, one warning and False."""
        assert self.host is not None
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self._password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # OSError covers refused, unreachable, timed out and TLS failures.
            reason = " ".join(str(exc).split()) or type(exc).__name__
            logger.warning("e-mail not sent: mail server %s:%s: %s: %s",
                           self.host, self.port, type(exc).__name__, reason)
            return False
        return True
