"""Payments that can be set up, through the CLI against the sandboxes: without Visma's ea:purchase scope
the bank accounts cannot be read and every message says so and how to fix it; a re-consent (`connect
visma` again) asks for it, explained; then the accounts are listed and each payment method is mapped
by name or id, validated against Visma and the shop.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from typer.testing import CliRunner

from shopbridge.logs import configure_logging
from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.visma.seed import sid
from shopbridge.sync.context import effective_settings
from shopbridge.sync.setup import granted_scopes, setup_problems
from status_env import events, skus, sweep, visma

from e2e import Env, env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = env_fixture("payment_setup")
PM_CARD = 2


@dataclass
class Ran:
    returncode: int
    stdout: str  # blanks and line breaks folded into single spaces


async def cli(env: Env, *args: str) -> Ran:
    """`shopbridge --data-dir DIR ARGS` in this process (in a thread: the command runs its own loop)."""
    from shopbridge.cli import app, ui

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["--data-dir", str(env.data_dir), *args], env={"COLUMNS": "400"}
    )
    configure_logging("WARNING")  # the command logged to the runner's stream, closed now: back to stderr
    opened = ui._opts.pop("store", None)  # the command's store: closed, never reused by another test
    if opened is not None:
        opened.close()
    return Ran(result.exit_code, " ".join(result.output.split()))


def reconsent(env: Env) -> str:
    """`shopbridge connect visma` again, the consent page opened as a person would; its output."""
    environ = {**os.environ, "SHOPBRIDGE_HOME": str(env.data_dir), "COLUMNS": "2000", "PYTHONUNBUFFERED": "1"}
    args = ["connect", "visma", "--connection", env.name, "--client-id", d.VISMA_CLIENT_ID]
    args += ["--client-secret", d.VISMA_CLIENT_SECRET, "--identity-url", env.visma.url]
    args += ["--api-base", f"{env.visma.url}/v2", "--no-browser", "--timeout", "60"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopbridge", *args], env=environ, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    out = []
    for line in proc.stdout:
        out.append(line)
        if line.startswith(env.visma.url):
            httpx.get(line.strip(), follow_redirects=True, timeout=30)  # the person consents
            break
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(out) + rest
    return "".join(out) + rest


async def test_payment_accounts_after_a_reconsent(env: Env) -> None:
    listed = await cli(env, "connection", "accounts", env.name)
    assert listed.returncode == 2, listed.stdout
    assert (
        "ea:purchase" in listed.stdout
        and f"shopbridge connect visma --connection {env.name}" in listed.stdout
    )

    wrong = await cli(env, "connection", "set", env.name, "paid_payment_methods", "card,bitcoin")
    assert wrong.returncode == 2 and "the shop has no payment method 'bitcoin'" in wrong.stdout, wrong.stdout
    chosen = await cli(env, "connection", "set", env.name, "paid_payment_methods", "klarna_checkout,card")
    assert chosen.returncode == 0, chosen.stdout
    assert "ea:purchase" in chosen.stdout and "default cheque account" in chosen.stdout

    # a card order invoiced before the accounts are set up: its payment waits, saying what to do
    [sku] = await skus(env, 1)
    order = await env.new_order(
        [{"sku": sku, "quantity": 1, "unitPrice": Decimal(100)}], paymentMethodId=PM_CARD
    )
    await sweep(env)
    draft = env.transfer(order["orderId"]).visma_document_id
    await visma(env, "POST", f"customerinvoicedrafts/{draft}/convert")
    await sweep(env)
    payment = events(env, order["orderId"])["payment"]
    assert payment.state == "error" and "ea:purchase" in (payment.error or ""), payment.error

    async with env.context() as ctx:  # the setup check (`doctor`) says the same
        problems = " ".join(await setup_problems(ctx))
    assert "klarna_checkout, card have no bank account" in problems and "ea:purchase" in problems
    assert "no Visma event says delivered" in problems  # invoice_draft: capture happens in the shop

    out = reconsent(env)
    assert "also asks for ea:purchase" in out and "is authorised in Visma" in out
    granted = granted_scopes(env.store, env.store.connections.find(env.name))
    assert "ea:purchase" in granted.split(), granted

    listed = await cli(env, "connection", "accounts", env.name)
    assert listed.returncode == 0, listed.stdout
    assert all(name in listed.stdout for name in ("Företagskonto", "Kassa", "Klarna")), listed.stdout

    bad = await cli(env, "connection", "set", env.name, "payment_accounts", "card=Sparkonto")
    assert (
        bad.returncode == 2 and "no Visma bank account 'Sparkonto'" in bad.stdout and "Klarna (" in bad.stdout
    )
    mapped = await cli(
        env,
        "connection",
        "set",
        env.name,
        "payment_accounts",
        f"klarna_checkout=Klarna,card={sid('bank', 'cheque')}",
    )
    assert mapped.returncode == 0, mapped.stdout
    settings = effective_settings(env.store, env.store.connections.find(env.name))
    assert settings.payment_accounts == {
        "klarna_checkout": sid("bank", "klarna"),
        "card": sid("bank", "cheque"),
    }

    async with env.context() as ctx:
        assert not [p for p in await setup_problems(ctx) if "bank account" in p]

    await sweep(env)  # the waiting payment goes through now, on the card's account
    assert events(env, order["orderId"])["payment"].state == "applied"
    booked = env.admin("visma", "GET", "/visma/payments").json()["payments"]
    assert [p["CompanyBankAccountId"] for p in booked] == [sid("bank", "cheque")]

    drafts = await cli(env, "connection", "set", env.name, "document_type", "invoice_draft")
    assert drafts.returncode == 0 and "no Visma event says delivered" in drafts.stdout, drafts.stdout
    assert "capture_on invoiced" in drafts.stdout
