"""The manager page (issue 10): GET /manager and its files served from memory with their Content-Type and a
Content-Security-Policy, without authentication; nothing else reachable through /manager/<name>; a missing
directory gives a JSON 404 and the supervisor still serves the API. ManagerBrowserTest drives the page in
Debian's chromium (tests/manager/manager_browser.mjs): it runs only under tests/manager/run.sh (meson test
manager-browser), which installs puppeteer-core and sets WAGATE_MANAGER_SCRIPT.

One test: python3 test_manager.py ManagerServeTest.test_files."""

import os
import subprocess
import sys
import tempfile
import unittest

from harness import API_KEY, E2ETestCase, PairingCase, REPO, main

FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "index.html": "text/html; charset=utf-8",
}


class ManagerServeTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()

    def assert_page(self, r, ctype, source):
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("content-type"), ctype)
        csp = r.headers.get("content-security-policy", "")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertNotIn("http", csp, "the policy must name no external origin")
        self.assertEqual(r.headers.get("x-content-type-options"), "nosniff")
        with open(os.path.join(REPO, "manager", source), "rb") as f:
            self.assertEqual(r.body, f.read())

    def test_page_without_key(self):
        for path in ("/manager", "/manager/"):
            self.assert_page(self.sup.request("GET", path), FILES["index.html"], "index.html")
        # a key, even a wrong one, changes nothing: the page holds no secret
        self.assert_page(self.sup.request("GET", "/manager", apikey="wrong"), FILES["index.html"], "index.html")

    def test_files(self):
        for name, ctype in FILES.items():
            self.assert_page(self.sup.request("GET", "/manager/" + name), ctype, name)

    def test_page_loads_nothing_external(self):
        for name in FILES:
            with open(os.path.join(REPO, "manager", name), encoding="utf-8") as f:
                text = f.read()
            self.assertNotRegex(text, r"(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", name)

    def test_only_loaded_names(self):
        for path in ("/manager/nope.js", "/manager/../migrations/0001_init.sql", "/manager/..%2fmigrations",
                     "/manager/%2e%2e/README.md", "/manager/style.css/", "/manager/app.js/x", "/manager//app.js",
                     "/manager/.hidden", "/managerx"):
            r = self.sup.request("GET", path)
            self.assertStatus(r, 404, path)
            self.assertEqual(r.json["status"], 404, path)
            self.assertEqual(r.json["error"], "Not Found", path)
        # other methods are not routes
        r = self.sup.request("POST", "/manager", body={})
        self.assertStatus(r, 404)

    def test_missing_directory(self):
        missing_dir = os.path.join(tempfile.mkdtemp(prefix="wagate-e2e-nomanager-"), "absent")
        sup = self.supervisor({"WAGATE_MANAGER_DIR": missing_dir})
        for path in ("/manager", "/manager/app.js"):
            r = sup.request("GET", path)
            self.assertStatus(r, 404, path)
            self.assertIn("manager page is not installed", r.json["response"]["message"][0])
        self.assertIn("manager page not served", sup.log_text())
        self.assertStatus(sup.request("GET", "/health"), 200)
        self.assertStatus(sup.api("GET", "/instance/fetchInstances"), 200)

    def test_directory_without_index(self):
        d = tempfile.mkdtemp(prefix="wagate-e2e-manager-")
        with open(os.path.join(d, "app.js"), "w") as f:
            f.write("// no index.html beside me\n")
        sup = self.supervisor({"WAGATE_MANAGER_DIR": d})
        r = sup.request("GET", "/manager/app.js")
        self.assertStatus(r, 404)
        self.assertIn("no index.html", sup.log_text())

    def test_other_directory(self):
        d = tempfile.mkdtemp(prefix="wagate-e2e-manager-")
        for name, text in (("index.html", "<p>mine</p>\n"), ("x.svg", "<svg/>\n"), ("skip.exe", "MZ"),
                           (".env", "SECRET=1\n")):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        sup = self.supervisor({"WAGATE_MANAGER_DIR": d})
        r = sup.request("GET", "/manager/")
        self.assertStatus(r, 200)
        self.assertEqual(r.text, "<p>mine</p>\n")
        r = sup.request("GET", "/manager/x.svg")
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("content-type"), "image/svg+xml")
        for name in ("skip.exe", ".env"):
            self.assertStatus(sup.request("GET", "/manager/" + name), 404, name)
        # read once at start-up: a file changed afterwards is not served
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("<p>changed</p>\n")
        self.assertEqual(sup.request("GET", "/manager").text, "<p>mine</p>\n")


class ManagerBrowserTest(PairingCase):
    """The page in chromium against this supervisor and fakewa's mock phone."""

    def setUp(self):
        self.script = os.environ.get("WAGATE_MANAGER_SCRIPT")
        if not self.script:
            raise unittest.SkipTest("the browser test runs through tests/manager/run.sh (meson test manager-browser)")
        super().setUp()

    def test_login_create_pair_logout(self):
        shots = os.environ.get("WAGATE_MANAGER_SHOTS") or tempfile.mkdtemp(prefix="wagate-manager-shots-")
        url = "http://127.0.0.1:%d/manager" % self.sup.port
        control = "http://127.0.0.1:%d" % self.fw.control
        try:
            r = subprocess.run(["node", self.script, url, API_KEY, control, shots, "150000"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=200,
                               cwd=os.path.dirname(self.script))
        except subprocess.TimeoutExpired as e:
            sys.stdout.write((e.stdout or b"").decode("utf-8", "replace"))
            raise AssertionError("the browser test did not finish")
        out = r.stdout.decode("utf-8", "replace")
        sys.stdout.write(out)
        self.assertEqual(r.returncode, 0, "the browser test failed (screenshot in %s)" % shots)
        self.assertIn("MANAGER OK", out)
        # what the page did went through the API: the paired instance was logged out, then deleted
        self.assertEqual([x["name"] for x in self.sup.api("GET", "/instance/fetchInstances").json],
                         ["mgr-browser-other"])


if __name__ == "__main__":
    main()
