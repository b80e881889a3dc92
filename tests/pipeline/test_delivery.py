"""SMTP delivery of the morning pack against a real SMTP server on 127.0.0.1 (tests/smtp_sink).

Nothing is mocked: ``smtplib`` talks to a listening socket, the received bytes are parsed by
the stdlib e-mail parser, the PDF and PNGs inside are the ones WeasyPrint and matplotlib made.
The ``[pms_smtp]`` section is read through luigi's real configuration object.
"""
from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes, policy

import luigi
import pytest

from pms_luigi import report as render
from pms_luigi.cli import pack as cli_pack
from pms_luigi.core.pack import assemble_pack
from pms_luigi.report import delivery
from pms_luigi.report.delivery import DeliveryError, SmtpSettings
from tests.smtp_sink import SmtpSink
from tests.unit.test_morning_pack import make_inputs

SENDER = "pms@fund.example"
PM, RISK = "pm@fund.example", "risk@fund.example"


@pytest.fixture(scope="module")
def message_parts() -> tuple[dict, str, dict[str, bytes], bytes, dict[str, str]]:
    pack = assemble_pack(make_inputs())
    pngs = render.render_charts(pack)
    cids = render.chart_cids(pngs)
    html = render.render_html(pack, cids)
    return pack, html, pngs, render.render_pdf(html, pngs, cids), cids


@pytest.fixture
def message(message_parts):
    pack, html, pngs, pdf, cids = message_parts
    return render.build_email(pack, html, pngs, pdf, SENDER, [PM, RISK], cids=cids)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def _settings(port: int = 1, **kw: object) -> SmtpSettings:
    base = {"host": "127.0.0.1", "port": port, "sender": SENDER, "recipients": (PM, RISK),
            "starttls": False, "timeout_seconds": 5.0}
    return SmtpSettings(**{**base, **kw})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pack_is_delivered_with_cid_images_and_pdf(sink, message, message_parts) -> None:
    _, html, pngs, pdf, cids = message_parts
    sent = delivery.send_message(message, _settings(sink.port))
    assert sent == (PM, RISK)
    assert len(sink.messages) == 1
    got = sink.messages[0]
    assert got.mail_from == SENDER and got.rcpt_to == [PM, RISK] and got.auth is None
    parsed = message_from_bytes(got.data, policy=policy.default)
    assert parsed["Subject"].startswith("[PMS Macro FIM] Morning pack 2026-02-18")
    body = parsed.get_body(("html",))
    assert body.get_content().replace("\r\n", "\n") == html  # SMTP lines end in CRLF
    images = {p["Content-ID"].strip("<>"): p.get_content() for p in parsed.walk()
              if p.get_content_type() == "image/png"}
    assert images == {cids[name]: pngs[name] for name in pngs}  # every cid: ref resolves
    for cid in images:
        assert f'src="cid:{cid}"' in html
    (attachment,) = [p for p in parsed.iter_attachments()
                     if p.get_content_type() == "application/pdf"]
    assert attachment.get_filename() == "morning_pack_2026-02-18.pdf"
    assert attachment.get_content() == pdf and pdf.startswith(b"%PDF")
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == render.render_text(message_parts[0])


def test_login_uses_the_password_from_the_environment_only(message, monkeypatch) -> None:
    monkeypatch.setenv(delivery.PASSWORD_ENV, "s3cr3t-from-env")
    with SmtpSink(credentials=("pms-bot", "s3cr3t-from-env")) as server:
        delivery.send_message(message, _settings(server.port, username="pms-bot"),
                              delivery.password_from_env())
        assert server.messages[0].auth == ("pms-bot", "s3cr3t-from-env")
    monkeypatch.setenv(delivery.PASSWORD_ENV, "wrong")
    with SmtpSink(credentials=("pms-bot", "s3cr3t-from-env")) as server:
        with pytest.raises(DeliveryError, match=r"login as 'pms-bot'.*535"):
            delivery.send_message(message, _settings(server.port, username="pms-bot"),
                                  delivery.password_from_env())
        assert server.messages == []
    monkeypatch.delenv(delivery.PASSWORD_ENV)
    with pytest.raises(DeliveryError, match="PMS_SMTP_PASSWORD is empty"):
        delivery.send_message(message, _settings(1, username="pms-bot"),
                              delivery.password_from_env())


def test_starttls_required_but_not_offered_fails_before_any_data(sink, message) -> None:
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        delivery.send_message(message, _settings(sink.port, starttls=True))
    assert sink.messages == []


def test_credentials_are_never_sent_in_clear_to_a_remote_host(message) -> None:
    remote = _settings(25, host="smtp.fund.example", username="pms-bot")
    with pytest.raises(DeliveryError, match="refusing to send SMTP credentials without TLS"):
        delivery.send_message(message, remote, "pw")


def test_partial_refusal_is_reported_and_the_others_get_the_pack(message) -> None:
    with SmtpSink(refuse={RISK}) as server:
        with pytest.raises(DeliveryError, match=r"refused some recipients.*risk@fund\.example "
                                                 r"\(550"):
            delivery.send_message(message, _settings(server.port))
        assert [m.rcpt_to for m in server.messages] == [[PM]]
    with SmtpSink(refuse={PM, RISK}) as server:
        with pytest.raises(DeliveryError, match="refused every recipient"):
            delivery.send_message(message, _settings(server.port))
        assert server.messages == []


def test_unreachable_server_is_a_delivery_error_naming_it(message) -> None:
    port = _free_port()
    with pytest.raises(DeliveryError, match=f"cannot deliver through SMTP server 127.0.0.1:{port}"):
        delivery.send_message(message, _settings(port))


@pytest.mark.parametrize("kw, match", [
    ({"host": ""}, "SMTP host is not set"),
    ({"sender": "not-an-address"}, "sender is not an e-mail address"),
    ({"recipients": ()}, "no recipients"),
    ({"recipients": ("pm@fund.example", "x<script>")}, "not an e-mail address: 'x<script>'"),
    ({"port": 0}, "port out of range"),
])
def test_incomplete_settings_are_refused_before_connecting(kw, match, message) -> None:
    with pytest.raises(DeliveryError, match=match):
        delivery.send_message(message, _settings(**kw))


def test_recipients_parse_from_config_text_and_override_list() -> None:
    assert delivery.parse_recipients("a@x.br, b@y.br;c@z.br  a@x.br") == \
        ("a@x.br", "b@y.br", "c@z.br")
    assert delivery.parse_recipients(["a@x.br", "b@y.br,c@z.br"]) == ("a@x.br", "b@y.br", "c@z.br")
    assert delivery.parse_recipients("") == () and delivery.parse_recipients(None) == ()
    assert _settings(1).validate(["only@x.br"]) == ("only@x.br",)


def test_settings_come_from_the_pms_smtp_config_section(monkeypatch) -> None:
    conf = luigi.configuration.get_config()
    values = {"host": "smtp.fund.example", "port": "2525", "sender": SENDER,
              "recipients": f"{PM}, {RISK}", "starttls": "false", "username": "pms-bot"}
    monkeypatch.setenv(delivery.PASSWORD_ENV, "from-env")
    try:
        for k, v in values.items():
            conf.set("pms_smtp", k, v)
        s = cli_pack.smtp_settings()
        conf.set("pms_smtp", "password", "typed-into-the-file")
        with pytest.raises(DeliveryError, match=r"not in luigi.cfg.*PMS_SMTP_PASSWORD"):
            cli_pack.smtp_settings()
    finally:
        conf.remove_section("pms_smtp")
    assert s == SmtpSettings(host="smtp.fund.example", port=2525, sender=SENDER,
                             recipients=(PM, RISK), starttls=False, username="pms-bot",
                             timeout_seconds=30.0)
    assert delivery.password_from_env() == "from-env"
    assert cli_pack.smtp_settings().starttls is True  # the default once the section is gone
