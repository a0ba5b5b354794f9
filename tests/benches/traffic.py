"""Traffic for `just bench` besides wrk's, with the password in $PASSWORD.

    python3 traffic.py accounts N DIR BASE_URL
        registers N accounts and logs each in, 8 at a time; writes DIR/emails,
        DIR/access (access tokens) and DIR/refresh (refresh tokens), one per line.
    python3 traffic.py mix SECONDS REFRESH_PER_S LOGINS_PER_S DIR BASE_URL...
        background writes while wrk measures reads: refresh grants on the chains of
        DIR/refresh (each refresh uses the token the last one returned, as a client does)
        and logins to the accounts of DIR/emails, at a steady pace, sent to the base URLs
        in turn. Prints `MIX refreshes/s logins/s failures`.
"""

import concurrent.futures
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse

password = os.environ["PASSWORD"]
done = {"refresh": 0, "login": 0, "failed": 0}
lock = threading.Lock()
bases = []


def post(turn, path, body, content_type):
    base = bases[turn % len(bases)]
    connection = http.client.HTTPConnection(base.hostname, base.port, timeout=30)
    try:
        connection.request("POST", path, body, {"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def post_form(turn, fields):
    form = "application/x-www-form-urlencoded"
    return post(turn, "/api/v1/auth/token", urllib.parse.urlencode(fields), form)


def account(index):
    """Registers account `index` and logs it in; returns (email, access, refresh)."""
    email = f"bench{index}@example.com"
    body = json.dumps({"email": email, "password": password})
    status, answer = post(index, "/api/v1/auth/register", body, "application/json")
    if status != 201:
        raise SystemExit(f"register {email}: {status} {answer}")
    for _ in range(40):  # a full hashing queue answers 503 for a moment
        fields = {"grant_type": "password", "username": email, "password": password}
        status, answer = post_form(index, fields)
        if status == 200:
            tokens = json.loads(answer)
            return email, tokens["access_token"], tokens["refresh_token"]
        time.sleep(0.25)
    raise SystemExit(f"login {email}: {status} {answer}")


def accounts(count, directory):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        made = list(pool.map(account, range(count)))
    for column, name in enumerate(["emails", "access", "refresh"]):
        with open(os.path.join(directory, name), "w") as file:
            file.writelines(row[column] + "\n" for row in made)


def paced(rate, action):
    """Calls action(turn) `rate` times a second until the time is up, on a fixed schedule."""
    if rate <= 0:
        return
    interval, start, turn = 1.0 / rate, time.monotonic(), 0
    while True:
        due = start + turn * interval
        if due - start >= seconds:
            return
        time.sleep(max(0.0, due - time.monotonic()))
        ok = action(turn)
        with lock:
            done["failed" if not ok else action.__name__] += 1
        turn += 1


def refresh(turn):
    index = turn % len(chains)
    status, body = post_form(turn, {"grant_type": "refresh_token", "refresh_token": chains[index]})
    if status != 200:
        return False
    chains[index] = body.split('"refresh_token":"', 1)[1].split('"', 1)[0]
    return True


def login(turn):
    email = emails[turn % len(emails)]
    fields = {"grant_type": "password", "username": email, "password": password}
    status, _ = post_form(turn, fields)
    return status == 200


if sys.argv[1] == "accounts":
    bases.append(urllib.parse.urlsplit(sys.argv[4]))
    accounts(int(sys.argv[2]), sys.argv[3])
elif sys.argv[1] == "mix":
    seconds = float(sys.argv[2])
    refresh_rate, login_rate = float(sys.argv[3]), float(sys.argv[4])
    chains = [line.strip() for line in open(os.path.join(sys.argv[5], "refresh"))]
    emails = [line.strip() for line in open(os.path.join(sys.argv[5], "emails"))]
    # One refresh a second per chain, on sessions whose access tokens wrk also reads with:
    # each refresh makes the cache forget a session that is in use.
    chains = chains[: max(1, int(refresh_rate))]
    bases.extend(urllib.parse.urlsplit(url) for url in sys.argv[6:])
    threads = [
        threading.Thread(target=paced, args=(refresh_rate, refresh)),
        threading.Thread(target=paced, args=(login_rate, login)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"MIX {done['refresh'] / seconds:.1f} {done['login'] / seconds:.1f} {done['failed']}")
else:
    raise SystemExit(__doc__)
