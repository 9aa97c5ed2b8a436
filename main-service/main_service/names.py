"""The payment demo's names: its workflow type, task queue, table and failure types."""

from typing import Final

MAIN_TASK_QUEUE: Final = "write-batching-main"
PAYMENT_WORKFLOW: Final = "PaymentWorkflow"

# In main_service/tables.yaml; the batcher learns it from the same file (WRITE_TABLES_FILE).
LEDGER_TABLE: Final = "ledger_entries"

# ApplicationError types a payment fails with; callers branch on them.
INVALID_PAYMENT: Final = "InvalidPayment"
PAYMENT_DECLINED: Final = "PaymentDeclined"
