/** Arabic strings of the contract, copied exactly. They are shown to end users as they are. */

export const MESSAGES = Object.freeze({
  /** Sandbox 0600000001. */
  BALANCE_UNAVAILABLE: 'الرصيد المطلوب غير متوفر لهذا الرقم',
  /** Sandbox 0600000002, and a GETMENU answer. */
  OFFER_NOT_ACCEPTED: 'هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية',
  /** UNKNOWN_ERROR notice. */
  UNKNOWN_NOTICE:
    'هذه العملية حالتها غير معروفة، يرجى التأكد مع عميلك، ولن نتحمل أي مسؤولية عن أي خسائر. إذا فشلت العملية بالفعل، فلا تقلق، سيتم استرداد أموالك خلال 24 ساعة',
  /** Operator refused: wrong number. */
  WRONG_NUMBER: 'رقم الهاتف خاطئ، يرجى التأكد مع العميل',
  /** Plan mismatch (prepaid plan to a postpaid number). */
  PLAN_MISMATCH: 'هذا العرض غير متوافق مع هذا الرقم جرب فاتورة',
  /**
   * shahn's own (the public documentation has no such text): the refund_message of an order that was
   * UNKNOWN_ERROR and is now known to have failed and been refunded (support's decision, a late
   * operator answer without a message of its own, the sandbox's 12 h resolution). "The top-up did not
   * go through, and the amount has been refunded."
   */
  REFUNDED_AFTER_REVIEW: 'لم تتم عملية الشحن، وتم استرداد المبلغ',
  /** typename of the facture suggestion. */
  FACTURE_TYPENAME: '📋 FACTURE | فاتورة',
});
