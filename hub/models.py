"""The merchant network: vendors, merchants (and issuers), stores, terminals, credentials."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.functional import classproperty

from members.fields import EncryptedTextField


def vendor_choices() -> list[tuple[str, str]]:
    """(code, name) of every registered till dialect (callable choices: read when used)."""
    from hub.gateway.registry import vendor_choices as from_registry

    return from_registry()


class Vendor(models.Model):
    """A cashier-software company, or the hub's own native protocol."""

    # Codes of the dialects shipped with the hub. The list of dialects is the adapter registry
    # (settings.HUB_TILL_ADAPTERS): choices and rows come from it (hub.gateway.registry).
    ZHIBAIWEI, KEMAI, SIXUN, FANGXIANG, NATIVE = "zhibaiwei", "kemai", "sixun", "fangxiang", "native"

    class AuthScheme(models.TextChoices):
        SECRET = "secret", "共享密钥（MD5/HMAC 签名）"
        RSA = "rsa", "厂商 RSA 公钥（RSA2 签名）"

    code = models.CharField("代码", max_length=32, unique=True, choices=vendor_choices)
    name = models.CharField("名称", max_length=64)
    auth_scheme = models.CharField(
        "签名方式",
        max_length=16,
        choices=AuthScheme.choices,
        default=AuthScheme.SECRET,
        help_text="决定该厂商的接入凭证是共享密钥还是登记厂商的 RSA 公钥",
    )

    class Meta:
        verbose_name = "收银软件厂商"
        verbose_name_plural = "收银软件厂商"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name

    @classproperty
    def CODE_CHOICES(cls) -> list[tuple[str, str]]:  # noqa: N802 - kept under its old name
        return vendor_choices()


class GatewayCounter(models.Model):
    """Shared, atomic counters of the gateway's rate limits and throttles (hub.gateway.throttle)
    when no Redis cache is configured: one row per key, incremented by one upsert."""

    key = models.CharField(max_length=200, primary_key=True)
    value = models.BigIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "hub_gateway_counter"
        verbose_name = verbose_name_plural = "网关计数器"

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class TillNonce(models.Model):
    """Nonces seen per credential, kept for the contract's window (15 minutes), then pruned."""

    pk = models.CompositePrimaryKey("credential_id", "nonce")
    credential_id = models.BigIntegerField()
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "hub_till_nonce"
        verbose_name = verbose_name_plural = "收银请求随机串"

    def __str__(self) -> str:
        return f"{self.credential_id}:{self.nonce}"


class Merchant(models.Model):
    """A party of the network: a merchant in a scene, or a points issuer (the postal issuer).

    Clearing items name merchants as payer and payee, so the postal issuer is a Merchant of kind
    ISSUER; a merchant that issues its own store points is kind MERCHANT and issuer of a program.
    """

    class Kind(models.TextChoices):
        MERCHANT = "merchant", "商户"
        ISSUER = "issuer", "积分发行方"

    class Scene(models.TextChoices):
        SUPERMARKET = "supermarket", "商超"
        MARKET = "market", "菜场"
        CAMPUS = "campus", "校园"
        RESTAURANT = "restaurant", "餐饮"
        MEDICAL = "medical", "医疗"
        OTHER = "other", "N（其他）"

    class Status(models.TextChoices):
        ACTIVE = "active", "正常"
        SUSPENDED = "suspended", "暂停"
        CLOSED = "closed", "已关闭"

    code = models.CharField("商户编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=128)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices, default=Kind.MERCHANT)
    scene = models.CharField("场景", max_length=16, choices=Scene.choices, default=Scene.SUPERMARKET)
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.ACTIVE)
    vendor = models.ForeignKey(
        Vendor, verbose_name="收银软件", on_delete=models.PROTECT, null=True, blank=True, related_name="merchants"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "商户"
        verbose_name_plural = "商户"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Store(models.Model):
    merchant = models.ForeignKey(Merchant, verbose_name="商户", on_delete=models.PROTECT, related_name="stores")
    code = models.CharField("门店编码", max_length=32, help_text="商户收银软件中的门店编码（如 BranchJg、store_no）")
    name = models.CharField("名称", max_length=128)
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "门店"
        verbose_name_plural = "门店"
        ordering = ["merchant_id", "code"]
        constraints = [models.UniqueConstraint(fields=["merchant", "code"], name="store_code_unique_per_merchant")]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"


class Terminal(models.Model):
    class Kind(models.TextChoices):
        POS = "pos", "收银机"
        CLOUD_POS = "cloud_pos", "智慧云POS"

    store = models.ForeignKey(Store, verbose_name="门店", on_delete=models.PROTECT, related_name="terminals")
    code = models.CharField("终端编码", max_length=32)
    kind = models.CharField("类型", max_length=16, choices=Kind.choices, default=Kind.POS)
    active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "终端"
        verbose_name_plural = "终端"
        ordering = ["store_id", "code"]
        constraints = [models.UniqueConstraint(fields=["store", "code"], name="terminal_code_unique_per_store")]

    def __str__(self) -> str:
        return f"{self.store.code}/{self.code}"


class Credential(models.Model):
    """One merchant integration's credential: an app key with a secret (HMAC/MD5 dialects) or a
    registered RSA public key (Fangxiang). Secrets are encrypted at rest and shown once.

    Rotation keeps the previous secret valid until ``previous_valid_until`` so tills can be
    re-configured without downtime.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "有效"
        REVOKED = "revoked", "已吊销"

    merchant = models.ForeignKey(Merchant, verbose_name="商户", on_delete=models.PROTECT, related_name="credentials")
    vendor = models.ForeignKey(Vendor, verbose_name="接口方言", on_delete=models.PROTECT, related_name="credentials")
    app_key = models.CharField("AppKey", max_length=64, unique=True)
    secret = EncryptedTextField("密钥（加密存储）", blank=True, default="", editable=False)
    previous_secret = EncryptedTextField("上一密钥（加密存储）", blank=True, default="", editable=False)
    previous_valid_until = models.DateTimeField("上一密钥有效期至", null=True, blank=True, editable=False)
    rsa_public_key = models.TextField("RSA 公钥（PEM）", blank=True, default="")
    status = models.CharField("状态", max_length=16, choices=Status.choices, default=Status.ACTIVE)
    is_sandbox = models.BooleanField("沙箱凭证", default=False, help_text="沙箱凭证在 DEBUG 关闭时被拒绝")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    rotated_at = models.DateTimeField("轮换时间", null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "接入凭证"
        verbose_name_plural = "接入凭证"
        ordering = ["merchant_id", "app_key"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(secret="") | ~Q(rsa_public_key=""), name="credential_has_secret_or_public_key"
            ),
            models.CheckConstraint(
                condition=Q(status="active", revoked_at__isnull=True) | Q(status="revoked", revoked_at__isnull=False),
                name="credential_revoked_at_matches_status",
            ),
            models.CheckConstraint(
                condition=Q(previous_secret="", previous_valid_until__isnull=True)
                | (~Q(previous_secret="") & Q(previous_valid_until__isnull=False)),
                name="credential_previous_secret_has_deadline",
            ),
        ]

    def __str__(self) -> str:
        return self.app_key

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class TillCall(models.Model):
    """Every call a till made to the gateway: who, what, the outcome and how long it took.

    Kept for settings.GATEWAY_CALL_RETENTION_DAYS, then pruned (hub.gateway.retention); replayed
    nonces are refused through TillNonce, which keeps only the contract's 15-minute window.
    """

    credential = models.ForeignKey(
        Credential, verbose_name="凭证", on_delete=models.PROTECT, null=True, blank=True, db_constraint=False,
        db_index=False,
    )
    merchant = models.ForeignKey(
        Merchant, verbose_name="商户", on_delete=models.PROTECT, null=True, blank=True, db_constraint=False,
        db_index=False,
    )
    vendor = models.CharField("接口方言", max_length=32)
    nonce = models.CharField("随机串", max_length=64, blank=True, default="")
    op = models.CharField("操作", max_length=16, blank=True, default="")
    request_no = models.CharField("请求单号", max_length=64, blank=True, default="")
    code = models.CharField("结果码", max_length=32, blank=True, default="")
    duration_ms = models.PositiveIntegerField("耗时（毫秒）", null=True, blank=True)
    received_at = models.DateTimeField("接收时间", db_index=True)

    class Meta:
        verbose_name = "收银调用记录"
        verbose_name_plural = "收银调用记录"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.vendor} {self.op} {self.request_no} {self.code}"



class Cashier(models.Model):
    """A merchant's till staff on the smart cloud POS (智慧云POS): a Django user bound to one
    merchant and some of its stores (hub.vendors.cloudpos). A supervisor has a PIN (hashed) that
    authorises a reverse at the till."""

    user = models.OneToOneField("auth.User", verbose_name="登录账号", on_delete=models.PROTECT, related_name="cashier")
    merchant = models.ForeignKey(Merchant, verbose_name="商户", on_delete=models.PROTECT, related_name="cashiers")
    stores = models.ManyToManyField(Store, verbose_name="可操作门店", related_name="cashiers", blank=True)
    display_name = models.CharField("姓名", max_length=32, blank=True, default="")
    is_supervisor = models.BooleanField("主管", default=False, help_text="主管可凭主管密码授权冲正")
    pin_hash = models.CharField("主管密码（哈希）", max_length=128, blank=True, default="", editable=False)
    active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "收银员"
        verbose_name_plural = "收银员"
        ordering = ["merchant_id", "user_id"]

    def __str__(self) -> str:
        return self.display_name or self.user.get_username()


class PosDevice(models.Model):
    """The device (phone or tablet browser) enrolled as a cloud-POS terminal: enrolled once with
    a one-time code (only its keyed digest is stored, with an expiry), it then holds a credential
    of the cloud-POS dialect in an HttpOnly cookie (hub.vendors.cloudpos)."""

    terminal = models.OneToOneField(Terminal, verbose_name="终端", on_delete=models.PROTECT, related_name="pos_device")
    credential = models.OneToOneField(
        Credential, verbose_name="设备凭证", on_delete=models.PROTECT, null=True, blank=True, related_name="pos_device",
        editable=False,
    )
    code_digest = models.CharField("登记码摘要", max_length=64, blank=True, default="", editable=False)
    code_expires_at = models.DateTimeField("登记码有效期至", null=True, blank=True, editable=False)
    enrolled_at = models.DateTimeField("登记时间", null=True, blank=True, editable=False)
    enrolled_by = models.ForeignKey(
        Cashier, verbose_name="登记人", on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False,
    )

    class Meta:
        verbose_name = "云POS设备"
        verbose_name_plural = "云POS设备"
        ordering = ["terminal_id"]
        constraints = [
            models.UniqueConstraint(fields=["code_digest"], condition=~Q(code_digest=""), name="pos_device_code_unique"),
            models.CheckConstraint(condition=Q(code_digest="") | Q(code_expires_at__isnull=False),
                                   name="pos_device_code_has_expiry"),
        ]

    def __str__(self) -> str:
        return str(self.terminal)
