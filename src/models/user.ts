import mongoose, { Schema, type Types } from 'mongoose';

export interface UserDoc {
  _id: Types.ObjectId;
  name: string;
  /** Stored lowercased: e-mail uniqueness is case-insensitive without a collation index. */
  email: string;
  createdAt: Date;
  updatedAt: Date;
}

const userSchema = new Schema<UserDoc>(
  {
    name: { type: String, required: true, trim: true },
    email: { type: String, required: true, lowercase: true, trim: true },
  },
  { timestamps: true },
);
userSchema.index({ email: 1 }, { unique: true });

export const User = mongoose.model<UserDoc>('User', userSchema);
