"""aiosmtpd handler: each message received is printed as one JSON line on stdout,
"MAIL {json}", with the envelope, the decoded subject and the decoded text/plain part."""
import json
import sys
from email import message_from_bytes, policy


class JsonPrinter:
    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(message["Subject"] or ""),
            "from": str(message["From"] or ""),
            "to": str(message["To"] or ""),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
            "raw": (envelope.original_content or envelope.content).decode("utf-8", "replace"),
        }
        sys.stdout.write("MAIL " + json.dumps(record, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return "250 Message accepted for delivery"
