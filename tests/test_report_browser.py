"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``, installed by scripts/test.sh)
renders its sections, runs its filter under the Content-Security-Policy, and executes none of the markup
that attacker-controlled CloudTrail fields carry. A screenshot is kept in test-artifacts/report.png."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from builders import run
from trailbeam.sample import write_sample

CHROMIUM = shutil.which("chromium")
pytestmark = [pytest.mark.pipeline,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (scripts/test.sh "
                                 "installs it with apt-get when run as root)")]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TITLE = "Browser test case"
SECTIONS = ("scope", "integrity", "findings", "identities", "activity", "changes", "timeline")
SCRIPT_UA = "<script>document.title='pwned'</script>"
IMG_NAME = "<img src=x onerror=\"document.title='pwned'\">"
SVG_SESSION = "<svg onload=\"document.title='pwned'\">"
ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/HostileOps"
KEY, SESSION_KEY = "AKIAHOSTILE000000001", "ASIAHOSTILE000000001"
USER = f"arn:aws:iam::{ACCOUNT}:user/hostile-admin"


def _event(event_id: str, time: str, name: str, source: str, identity: dict, **more) -> dict:
    return {"eventVersion": "1.08", "userIdentity": identity, "eventTime": time, "eventSource": source,
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "198.51.100.66", "userAgent": SCRIPT_UA,
            "requestID": f"req-{event_id}", "eventID": event_id, "readOnly": False, "eventType": "AwsApiCall",
            "managementEvent": True, "recipientAccountId": ACCOUNT, "eventCategory": "Management", **more}


def hostile_records() -> list[dict]:
    """An IAM user assumes a role under a session name carrying markup and, through it, stops a trail whose
    name is an <img onerror> payload; every call's user agent is a <script> element."""
    user = {"type": "IAMUser", "principalId": "AIDAHOSTILE", "arn": USER, "accountId": ACCOUNT, "accessKeyId": KEY,
            "userName": "hostile-admin"}
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/HostileOps/{SVG_SESSION}"
    session = {"type": "AssumedRole", "principalId": f"AROAHOSTILE:{SVG_SESSION}", "arn": session_arn,
               "accountId": ACCOUNT, "accessKeyId": SESSION_KEY,
               "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAHOSTILE", "arn": ROLE,
                                                    "accountId": ACCOUNT, "userName": "HostileOps"},
                                  "attributes": {"creationDate": "2026-03-03T10:00:00Z", "mfaAuthenticated": "false"}}}
    return [
        _event("hostile-assume", "2026-03-03T10:00:00Z", "AssumeRole", "sts.amazonaws.com", user, readOnly=True,
               requestParameters={"roleArn": ROLE, "roleSessionName": SVG_SESSION},
               responseElements={"credentials": {"accessKeyId": SESSION_KEY, "expiration": "Mar 3, 2026, 11:00:00 AM",
                                                 "sessionToken": "x"},
                                 "assumedRoleUser": {"assumedRoleId": f"AROAHOSTILE:{SVG_SESSION}", "arn": session_arn}},
               resources=[{"accountId": ACCOUNT, "type": "AWS::IAM::Role", "ARN": ROLE}]),
        _event("hostile-stop", "2026-03-03T10:05:00Z", "StopLogging", "cloudtrail.amazonaws.com", session,
               requestParameters={"name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/{IMG_NAME}"},
               responseElements=None),
        _event("hostile-list", "2026-03-03T10:06:00Z", "ListUsers", "iam.amazonaws.com", session, readOnly=True,
               requestParameters={"pathPrefix": IMG_NAME}, responseElements=None),
    ]


class _Dom(HTMLParser):
    """The parts of a DOM dump the tests read: the title, section ids, timeline rows (hidden or not, text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.sections: list[str] = []
        self.rows: list[tuple[bool, str]] = []          # (hidden, text) of every timeline row
        self.shown = ""
        self.tags: list[str] = []
        self._where: list[str] = []
        self._in_timeline = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(attrs.get("id") or "")
        if tag == "table":
            self._in_timeline = attrs.get("id") == "timeline-table"
        if tag == "tr" and self._in_timeline and (attrs.get("id") or "").startswith("event-"):
            self.rows.append(("hidden" in attrs, ""))
        document_title = tag == "title" and "title" not in self.tags[:-1]    # not the SVG <title> tooltips
        self._where.append("document-title" if document_title else "shown" if attrs.get("id") == "shown" else tag)

    def handle_endtag(self, tag):
        if self._where:
            self._where.pop()
        if tag == "table":
            self._in_timeline = False

    def handle_data(self, data):
        where = self._where[-1] if self._where else ""
        if where == "document-title":
            self.title += data
        elif where == "shown":
            self.shown += data
        elif self._in_timeline and self.rows:
            hidden, text = self.rows[-1]
            self.rows[-1] = (hidden, text + data)


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-default-apps", "--disable-sync", "--no-first-run",
               "--disable-extensions", "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def dom_of(url: str, profile: Path) -> tuple[_Dom, str, str]:
    done = chromium("--dump-dom", url, profile=profile)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = _Dom()
    dom.feed(done.stdout)
    return dom, done.stdout, done.stderr


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    write_sample(root / "trail", events=800, seed=4)
    hostile = root / "trail" / "AWSLogs" / "hostile.json"
    hostile.write_text(json.dumps({"Records": hostile_records()}))
    code, out, err = run("investigate", str(root / "trail" / "AWSLogs"), "--out", str(root / "case"),
                         "--title", TITLE)
    assert code == 0, out + err
    assert "report: " in out
    return root / "case"


def test_the_report_renders_its_sections_and_runs_its_script(case_dir, tmp_path):
    dom, text, log = dom_of((case_dir / "report.html").as_uri(), tmp_path / "profile")
    assert dom.sections == list(SECTIONS)
    assert dom.title == TITLE                                        # no payload rewrote it
    assert dom.shown.endswith(" events shown") and " of " in dom.shown   # our script ran under the policy
    assert "Refused to" not in log                                   # and the policy blocked nothing of ours
    assert dom.rows and not any(hidden for hidden, _ in dom.rows)


def test_no_hostile_markup_becomes_an_element(case_dir, tmp_path):
    dom, text, _ = dom_of((case_dir / "report.html").as_uri(), tmp_path / "profile")
    assert "pwned" not in dom.title
    assert "img" not in dom.tags and dom.tags.count("script") == 1
    assert "onload=" not in "".join(f"<{t}" for t in dom.tags)
    # The payloads are in the page, as text: in timeline rows, findings and the identity picture.
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=" in text
    assert "&lt;svg onload=" in text
    rows = {row_text for _, row_text in dom.rows}
    assert any(SCRIPT_UA in row_text and "StopLogging" in row_text for row_text in rows)


def test_the_filter_from_the_url_hides_the_other_rows(case_dir, tmp_path):
    dom, _, _ = dom_of((case_dir / "report.html").as_uri() + "#filter=StopLogging", tmp_path / "profile")
    shown = [row_text for hidden, row_text in dom.rows if not hidden]
    assert shown and all("StopLogging" in row_text for row_text in shown)
    assert any(hidden for hidden, _ in dom.rows)
    assert dom.shown.startswith(f"{len(shown)} of {len(dom.rows)} ")


def test_a_screenshot_is_kept_as_an_artefact(case_dir, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    picture = ARTIFACTS / "report.png"
    picture.unlink(missing_ok=True)
    done = chromium(f"--screenshot={picture}", "--window-size=1280,2000", "--hide-scrollbars",
                    (case_dir / "report.html").as_uri(), profile=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    data = picture.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
