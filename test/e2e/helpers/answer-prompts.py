"""Runs a command in a pseudo-terminal, as an operator at a terminal would, and answers its
prompts: each time the output ends with the prompt marker, the next answer is typed.

  python3 answer-prompts.py MARKER ANSWERS_JSON -- COMMAND [ARGS...]

Prints the command's terminal output; exits with its exit code (more prompts than
answers: 97; the command outlives the timeout: 98).
"""
import json
import os
import pty
import re
import select
import sys
import time

marker, answers = sys.argv[1].encode(), json.loads(sys.argv[2])
command = sys.argv[sys.argv.index("--") + 1:]
deadline = time.monotonic() + float(os.environ.get("ANSWER_PROMPTS_TIMEOUT", "300"))

pid, fd = pty.fork()
if pid == 0:
    os.execvp(command[0], command)

output = b""
pending = list(answers)
while True:
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        sys.stdout.write(output.decode(errors="replace"))
        sys.exit(98)
    ready, _, _ = select.select([fd], [], [], 0.5)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    output += chunk
    # readline may move the cursor after the prompt: judge the text without escape codes
    if re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", output).rstrip(b" ").endswith(marker):
        if not pending:
            os.kill(pid, 9)
            sys.stdout.write(output.decode(errors="replace"))
            sys.exit(97)
        os.write(fd, (pending.pop(0) + "\n").encode())
        output += b"\n"

_, status = os.waitpid(pid, 0)
sys.stdout.write(output.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
